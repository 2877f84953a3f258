"""The top layer: the message pipeline, the AI turn runtime and its context, copilot drafting, and the
channel adapters (web chat, SMS, voice relay, TwiML, Twilio signature checks). Nothing below imports it.
"""
