package transparency

const crashChildEnv = "KEYCEREMONY_CRASH_CHILD"

func crashChild() {}
