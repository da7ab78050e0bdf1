"""Secret feed links of alerts: Atom 1.0 for feed readers and iCalendar for calendar apps."""
