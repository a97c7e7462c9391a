//go:build !linux && !darwin

package peercred

// supported is false: this platform has no implementation yet (Windows needs
// named pipes with an owner-only DACL; the BSDs need their own getsockopt).
// Get fails with ErrUnsupported rather than serving unchecked.
const supported = false

func fromFD(int) (Creds, error) { return Creds{}, ErrUnsupported }
