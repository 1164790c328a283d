"""Faust agents, one module per topic family; each wires pure logic to streams and stores."""
