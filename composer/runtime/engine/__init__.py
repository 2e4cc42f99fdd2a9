"""The native engine: containers as records + bundles on runc/conmon, and what `composer container` does."""
