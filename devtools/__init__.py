"""What only runs on a developer's machine: backend installers, codegen, ``streammesh up``
and the diagnostic echo service. Not part of the wheel or the container image."""
