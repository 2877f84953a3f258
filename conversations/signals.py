"""What the conversations layer announces to the layers above it, which connect in their `AppConfig.ready`.

Services here store and read; they never import memory or the channel adapters. Where a write
here must be followed by work above (extract memory at the end, move memory on a merge, raise a
failed delivery), they send one of these and the owner of that work receives it.
"""

from django.dispatch import Signal

# After commit, a conversation closed: `conversation_id`. Memory extracts its last observations.
conversation_closed = Signal()

# Inside the merge's transaction: `survivor_id`, `merged_id`. Memory moves observations and profile.
customers_merged = Signal()

# After commit, a message could not be delivered for good: `message_id`, `channel`, `error`. The handoff
# app raises a signal supervisors see and marks the message in the desk.
delivery_failed = Signal()
