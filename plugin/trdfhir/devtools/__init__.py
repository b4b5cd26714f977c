"""Development tools: never used by the plugin in production.

smart_server   a small SMART authorization server + token-checking FHIR proxy (tests, demo)
smart_demo     `make demo`'s SMART app: that server and the app, side by side on 127.0.0.1
"""
