// Ack-path probe: a script with no imports that does nothing (the runtime's start and exit).
