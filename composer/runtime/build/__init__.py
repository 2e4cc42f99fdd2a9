"""Dockerfile builds on the native engine (`composer image build`, `composer build`)."""
