"""The Compose layer on the native engine: observe a project, execute plans, supervise it after `up -d`."""
