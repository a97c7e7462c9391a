package broker

import "errors"

// ReasonsOf returns the per-profile reasons of a broker error.
func ReasonsOf(err error) []Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reasons
	}
	return nil
}
