package hsm

// The software key wrap, for the RFC 5649 vectors.
var (
	WrapPadForTest   = wrapPad
	UnwrapPadForTest = unwrapPad
)
