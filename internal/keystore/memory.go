package keystore

import (
	"context"
	"fmt"
	"sync"

	"github.com/hfbroker/hfbroker/internal/secret"
)

// Memory is a Store that keeps tokens in a map, for tests. It is safe for
// concurrent use.
type Memory struct {
	mu     sync.Mutex
	tokens map[string]secret.Token
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory store.
func NewMemory() *Memory {
	return &Memory{tokens: make(map[string]secret.Token)}
}

// Kind returns "memory".
func (m *Memory) Kind() string { return KindMemory }

// Get returns the token stored under name.
func (m *Memory) Get(ctx context.Context, name string) (secret.Token, error) {
	if err := checkName(name); err != nil {
		return "", fmt.Errorf("read token %q: %w", name, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	tok, ok := m.tokens[name]
	if !ok {
		return "", fmt.Errorf("read token %q: %w", name, ErrNotFound)
	}
	return tok, nil
}

// Set stores tok under name.
func (m *Memory) Set(ctx context.Context, name string, tok secret.Token) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("store token %q: %w", name, err)
	}
	if err := checkToken(tok); err != nil {
		return fmt.Errorf("store token %q: %w", name, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tokens[name] = tok
	return nil
}

// Delete removes the token stored under name.
func (m *Memory) Delete(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("delete token %q: %w", name, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.tokens[name]; !ok {
		return fmt.Errorf("delete token %q: %w", name, ErrNotFound)
	}
	delete(m.tokens, name)
	return nil
}
