package scan

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hfbroker/hfbroker/internal/secret"
)

// HFLocations are the plaintext token files huggingface_hub reads and writes.
type HFLocations struct {
	TokenFile    string // the active token: $HF_TOKEN_PATH or $HF_HOME/token
	StoredTokens string // every saved token, by name: dirname(TokenFile)/stored_tokens
	Legacy       string // ~/.huggingface/token, used before huggingface_hub PR #1236 (2022)
}

// HFPaths computes the locations the way huggingface_hub's constants.py
// does: HF_HOME is $HF_HOME, else $XDG_CACHE_HOME/huggingface, else
// ~/.cache/huggingface; the token file is $HF_TOKEN_PATH, else $HF_HOME/token;
// both get ~ and $VAR expansion. Unlike Python, an empty variable counts as
// unset, since an empty HF_HOME would put the token in the working directory.
// The HUGGINGFACE_CO_STAGING test mode is not modelled.
func HFPaths(env func(string) string, home string) HFLocations {
	hfHome := env("HF_HOME")
	if hfHome == "" {
		cache := env("XDG_CACHE_HOME")
		if cache == "" {
			cache = filepath.Join(home, ".cache")
		}
		hfHome = filepath.Join(cache, "huggingface")
	}
	hfHome = expandPath(hfHome, env, home)
	tokenFile := env("HF_TOKEN_PATH")
	if tokenFile == "" {
		tokenFile = filepath.Join(hfHome, "token")
	}
	tokenFile = expandPath(tokenFile, env, home)
	return HFLocations{
		TokenFile:    tokenFile,
		StoredTokens: filepath.Join(filepath.Dir(tokenFile), "stored_tokens"),
		Legacy:       filepath.Join(home, ".huggingface", "token"),
	}
}

// expandPath applies Python's os.path.expanduser then os.path.expandvars:
// a leading ~ or ~/ becomes home, and $NAME or ${NAME} is replaced when the
// variable is set, left as written otherwise.
func expandPath(p string, env func(string) string, home string) string {
	if p == "~" {
		p = home
	} else if strings.HasPrefix(p, "~/") || strings.HasPrefix(p, "~"+string(filepath.Separator)) {
		p = filepath.Join(home, p[2:])
	}
	if !strings.Contains(p, "$") {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); {
		if p[i] != '$' {
			b.WriteByte(p[i])
			i++
			continue
		}
		name, width := "", 0
		if i+1 < len(p) && p[i+1] == '{' {
			if j := strings.IndexByte(p[i+2:], '}'); j >= 0 {
				name, width = p[i+2:i+2+j], j+3
			}
		} else {
			j := i + 1
			for j < len(p) && (isWord(p[j])) {
				j++
			}
			name, width = p[i+1:j], j-i
		}
		if v := env(name); name != "" && v != "" {
			b.WriteString(v)
			i += width
			continue
		}
		b.WriteByte('$')
		i++
	}
	return b.String()
}

// Errors from the token readers.
var (
	// ErrNoToken means a token file exists but holds nothing once cleaned,
	// which huggingface_hub treats as not logged in.
	ErrNoToken = errors.New("the token file is empty")
	// ErrTooBig means a file is far larger than any token store.
	ErrTooBig = errors.New("the file is too large to be a token store")
	// ErrMalformed means a stored_tokens or similar file does not parse.
	ErrMalformed = errors.New("the file is malformed")
)

// maxStoreSize bounds the plaintext stores read here. stored_tokens with a
// hundred OAuth entries stays under 100 KiB.
const maxStoreSize = 1 << 20

// ReadTokenFile reads a huggingface_hub token file (token, or the legacy
// ~/.huggingface/token) and cleans it as huggingface_hub's _clean_token does:
// every CR and LF removed, surrounding whitespace trimmed. A missing file
// gives an error matching fs.ErrNotExist; an empty one, ErrNoToken. The
// token is not validated: run secret.Check before storing it.
func ReadTokenFile(path string) (secret.Token, error) {
	data, err := readSmall(path)
	if err != nil {
		return "", fmt.Errorf("read token file: %w", err)
	}
	t := cleanToken(string(data))
	if t == "" {
		return "", fmt.Errorf("read token file %s: %w", path, ErrNoToken)
	}
	return secret.Token(t), nil
}

func cleanToken(s string) string {
	s = strings.ReplaceAll(s, "\r", "")
	s = strings.ReplaceAll(s, "\n", "")
	return strings.TrimSpace(s)
}

// readSmall reads a regular file of at most maxStoreSize bytes. Anything
// else is refused before it is opened: opening a FIFO blocks until a writer
// comes, and import (or doctor) would hang on one at the token path.
func readSmall(path string) ([]byte, error) {
	if info, err := os.Stat(path); err != nil {
		return nil, err
	} else if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w", path, ErrNotRegular)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w", path, ErrNotRegular)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxStoreSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxStoreSize {
		return nil, fmt.Errorf("%s: %w", path, ErrTooBig)
	}
	return data, nil
}
