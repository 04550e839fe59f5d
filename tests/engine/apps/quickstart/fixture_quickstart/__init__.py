"""fixture_quickstart: a quickstart-pytorch style Flower app (fedsim's test fixture)."""
