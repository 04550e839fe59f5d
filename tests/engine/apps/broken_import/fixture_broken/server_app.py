"""fedsim's test fixture: importing this module fails, as an app with a bad setting would."""

raise RuntimeError("DATA_DIR is not set\nsecond line of the message")
