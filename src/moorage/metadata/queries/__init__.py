"""Queries: functions taking a connection first. ``get_*`` raises NotFound, ``find_*`` returns
None, then ``list_*``, ``count_*``, ``create_*``, ``delete_*``."""
