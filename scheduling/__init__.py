"""iTIP (RFC 5546) scheduling, delivery and iMIP (RFC 6047).

Pure functions over calendar objects live here; they never do I/O. The room is
filled by the scheduling and iMIP issues; the foundation only reserves it.
"""
