package broker

import (
	"errors"
	"fmt"
)

// Kind classifies a broker error so the server can choose a gRPC code and the
// CLI an exit code.
type Kind int

const (
	KindInternal     Kind = iota
	KindInvalid           // a malformed request: bad name, bad token, bad TTL
	KindNotFound          // no such profile or lease
	KindNoTokenFits       // no stored token allows the request
	KindAccessDenied      // the named profile cannot do what was asked
	KindLocked            // the store is locked
	KindKeychain          // the keychain failed, timed out or is missing
	KindHub               // the Hub refused the token or did not answer
)

// Reason is one profile's reason for not fitting a request.
type Reason struct {
	Profile string
	Reason  string
}

// Error is what the broker returns for every failure a person can act on.
// Its text never contains a token.
type Error struct {
	Kind    Kind
	Msg     string
	Hint    string
	Reasons []Reason
	Err     error
	// cause, unlike Err, is matched by errors.Is but not repeated in the text.
	cause error
}

func (e *Error) Error() string {
	if e.Err != nil && e.Msg == "" {
		return e.Err.Error()
	}
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", e.Msg, e.Err)
	}
	return e.Msg
}

func (e *Error) Unwrap() error {
	if e.Err == nil {
		return e.cause
	}
	return e.Err
}

func errorf(kind Kind, hint string, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...), Hint: hint}
}

// KindOf returns err's Kind, KindInternal when it is not a broker Error.
func KindOf(err error) Kind {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Kind
	}
	return KindInternal
}

// HintOf returns err's hint, "" when it has none.
func HintOf(err error) string {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Hint
	}
	return ""
}
