"""The IAX2 provider: fax lines on an IAX2 peer (an Asterisk PBX, or iaxmodem/HylaFAX)."""
