"""What the conversations layer announces to the layers above it, which connect in their `AppConfig.ready`.

Services here store and read; they never import memory or the channel adapters. Where a write
here must be followed by work above (extract memory at the end, move memory on a merge, text an
agent's reply), they send one of these and the owner of that work receives it.
"""

from django.dispatch import Signal

# After commit, a conversation closed: `conversation_id`. Memory extracts its last observations.
conversation_closed = Signal()

# Inside the merge's transaction: `survivor_id`, `merged_id`. Memory moves observations and profile.
customers_merged = Signal()

# After commit, a stored agent or system reply needs its channel's transport: `message`. Web chat
# needs none (the message is published to the conversation's group); the SMS adapter texts it.
reply_needs_delivery = Signal()
