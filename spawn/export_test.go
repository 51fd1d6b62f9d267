package spawn

// InheritIgnoredTaken reports whether a Start gave the caller's ignored
// signals over with PIDFD_SIGNALS_INHERIT_IGNORED (not the queries).
func InheritIgnoredTaken() bool { return inheritIgnored.Load() == inheritYes }
