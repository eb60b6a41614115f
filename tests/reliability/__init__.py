"""Reliability: the service under faults and hostile input (``make reliability``)."""
