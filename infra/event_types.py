"""Event type names published to Channels groups.

Channels dispatches `a.b_c` to a consumer method `a_b_c`, so `conversation.message_created`
is handled by `conversation_message_created`.
"""

MESSAGE_CREATED = "conversation.message_created"
TOKEN = "conversation.token"
HANDOFF_CHANGED = "conversation.handoff_changed"
CONVERSATION_CHANGED = "conversation.changed"
SIGNAL_RAISED = "conversation.signal_raised"
FLAG_RAISED = "conversation.flag_raised"
PACKET_READY = "handoff.packet_ready"
COPILOT_DRAFT = "conversation.copilot_draft"  # a draft was recorded or its status changed; staff only
ALERT_CHANGED = "insights.alert_changed"  # an alert rule fired or cleared; supervisors only
