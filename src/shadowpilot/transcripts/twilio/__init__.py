"""Twilio as a transcript source: finished calls (Intelligence v2), chats (Conversations v1) and
the human outcome of each (TaskRouter), read with an injected `twilio.rest.Client`.

fetch.py does the REST pulls, mapping.py turns the payloads into Transcripts (pure functions),
http.py holds the retrying, host-rewriting HTTP client. Nothing here imports twilio at module
import time except http.py and fetch.py, which only the import command loads.
"""
