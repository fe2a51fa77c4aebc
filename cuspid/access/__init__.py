"""The policy: permissions, the role x permission matrix, ``can``/``require``, route
declarations and break-glass access for platform operators."""
