"""Built-in connectors, each registered under the ``cdp_sdk.connectors`` entry points."""
