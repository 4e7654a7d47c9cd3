"""Rights for the scheduling collections, whatever the rights backend says.

RFC 6638 §2.2-§2.3: a principal's inbox holds the invitations and replies
sent to them, and their outbox is where they act; nobody else may read,
write or delete in either. kalend wraps the configured rights backend so that
this holds under ``owner_write``, ``from_file`` or any other configuration.
"""

from __future__ import annotations

from kalend.storage_plugin.principals import INBOX, OUTBOX


class ScheduleCollectionRights:
    """Delegates to ``inner`` except inside another user's inbox or outbox."""

    def __init__(self, inner) -> None:
        self._inner = inner

    def authorization(self, user: str, user_groups: set, path: str) -> str:
        segments = [s for s in path.strip("/").split("/") if s]
        if len(segments) >= 2 and segments[1] in (INBOX, OUTBOX):
            if segments[0] != user:
                return ""
            if segments[1] == OUTBOX:
                # The outbox holds nothing and is acted on only by POST
                # (§2.1): its owner may see it, not write or delete it.
                return "Rr"
        return self._inner.authorization(user, user_groups, path)

    def __getattr__(self, name: str):
        return getattr(self._inner, name)
