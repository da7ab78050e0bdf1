"""What one crawl is told (CrawlConfig), and the parser and layout that config reads its board with."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from forest.crawler.definition import DefinitionParser, SourceDefinition, definition_from_selectors
from forest.crawler.fetch import USER_AGENT, FetchOptions, MiB
from forest.crawler.hosts import HostSchedule
from forest.crawler.parse import BoardParser
from forest.crawler.presets import get_parser
from forest.crawler.presets.definitions import PRESET_DEFINITIONS
from forest.crawler.selectors import SelectorParser


@dataclass(frozen=True, slots=True)
class CrawlConfig:
    """Everything one crawl needs to know; built from a Source or an ad-hoc URL."""

    start_url: str
    preset: str | None = None
    selectors: Mapping[str, str] | None = None
    # A source definition (forest.crawler.definition); wins over selectors and preset.
    definition: Mapping[str, object] | None = None
    encoding: str | None = None
    max_pages: int = 50
    polite: bool = True
    delay_seconds: float = 1.0
    concurrency: int = 4
    obey_robots: bool = True
    allow_hosts: Collection[str] = ()
    user_agent: str = USER_AGENT
    connect_timeout: float = 10.0
    request_timeout: float = 30.0
    max_retries: int = 3
    max_bytes: int = 10 * MiB
    retry_after_cap: float = 60.0
    backoff_base: float = 0.5
    fetch_details: bool = True
    # False walks every page up to max_pages instead of stopping where the store is caught up.
    incremental: bool = True
    min_pages: int = 2
    # The board's time zone: deadlines written without one ("12.3. 10:00") are read in it.
    timezone: str = "Asia/Seoul"
    # The per-host politeness schedule shared with other crawls (forest.crawler.hosts.process_schedule);
    # None: this crawl keeps its own.
    host_schedule: HostSchedule | None = None

    def fetch_options(self) -> FetchOptions:
        """The Fetcher tunables of this crawl."""
        return FetchOptions(
            user_agent=self.user_agent,
            connect_timeout=self.connect_timeout,
            request_timeout=self.request_timeout,
            max_bytes=self.max_bytes,
            max_retries=self.max_retries,
            backoff_base=self.backoff_base,
            retry_after_cap=self.retry_after_cap,
            polite=self.polite,
            delay_seconds=self.delay_seconds,
            concurrency=self.concurrency,
        )


def make_parser(config: CrawlConfig) -> BoardParser | None:
    """The parser for a config: its definition, else selectors, else preset, else None (detect on the first page)."""
    if config.definition:
        return DefinitionParser(SourceDefinition.model_validate(config.definition))
    if config.selectors:
        return SelectorParser(config.selectors)
    if config.preset:
        return get_parser(config.preset)
    return None


def layout_definition(parser: BoardParser | None, config: CrawlConfig) -> dict[str, Any] | None:
    """The definition a parser reads the board with, when it has one to show (presets written as definitions)."""
    if isinstance(parser, DefinitionParser):
        return parser.definition.model_dump(mode="json", exclude_defaults=True)
    if isinstance(parser, SelectorParser):
        return definition_from_selectors(parser.selectors)
    if config.preset is not None:
        return PRESET_DEFINITIONS.get("egov_board" if config.preset == "demo_board" else config.preset)
    return None
