package scan

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hfbroker/hfbroker/internal/secret"
)

// GitCredential is one line of a git credential-store file whose host
// matched.
type GitCredential struct {
	LineIndex int    // 0-based line number in the file
	URL       string // scheme://host[/path] with the user and password removed, safe to print
	Username  string
	Token     secret.Token // the URL-decoded password
}

func (c GitCredential) String() string {
	scheme, rest, _ := strings.Cut(c.URL, "://")
	return fmt.Sprintf("line %d: %s://%s:%s@%s", c.LineIndex+1, scheme, c.Username, c.Token, rest)
}

// ReadGitCredentials returns the lines of a git credential-store file
// (~/.git-credentials) whose host, port included, equals host, compared
// case-insensitively as git does. Each line is parsed like git's
// credential_from_url: proto://user:password@host[:port][/path], user and
// password percent-decoded, a trailing CR ignored. Lines without a password,
// and lines git could not parse, are skipped.
func ReadGitCredentials(path, host string) ([]GitCredential, error) {
	data, err := readSmall(path)
	if err != nil {
		return nil, fmt.Errorf("read git credentials: %w", err)
	}
	var out []GitCredential
	for i, line := range splitLinesKeepEnds(data) {
		c, ok := parseCredentialLine(line)
		if !ok || c.password == "" || !strings.EqualFold(c.host, host) {
			continue
		}
		out = append(out, GitCredential{
			LineIndex: i,
			URL:       c.redactedURL(),
			Username:  c.user,
			Token:     secret.Token(c.password),
		})
	}
	return out, nil
}

// ErrNotCredential means a line index given to RemoveGitCredentials does not
// hold a credential with a password: most likely the file changed after it
// was read. Nothing is written.
var ErrNotCredential = errors.New("the line is not a stored credential")

// RemoveGitCredentials deletes the given lines (0-based, as in
// GitCredential.LineIndex) from a credential-store file. Every other byte is
// kept: CRLF endings, blank and unparsable lines, a missing final newline.
// The file is rewritten through git's own path.lock protocol, so a running
// git credential-store cannot interleave, and keeps its mode (0600 as git
// creates it). A symlinked file, as dotfile managers make, is edited at its
// target, as git does. Each removed line must still parse as a credential
// with a password, or nothing is written.
func RemoveGitCredentials(path string, lineIndexes []int) error {
	if len(lineIndexes) == 0 {
		return nil
	}
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return fmt.Errorf("remove git credentials: %w", err)
	}
	perm, err := regularFile(target)
	if err != nil {
		return fmt.Errorf("remove git credentials: %w", err)
	}
	data, err := readSmall(target)
	if err != nil {
		return fmt.Errorf("remove git credentials: %w", err)
	}
	lines := splitLinesKeepEnds(data)
	drop := map[int]bool{}
	for _, i := range lineIndexes {
		if i < 0 || i >= len(lines) {
			return fmt.Errorf("remove git credentials from %s: line %d: %w", path, i+1, ErrNotCredential)
		}
		if c, ok := parseCredentialLine(lines[i]); !ok || c.password == "" {
			return fmt.Errorf("remove git credentials from %s: line %d: %w", path, i+1, ErrNotCredential)
		}
		drop[i] = true
	}
	var out []byte
	for i, line := range lines {
		if !drop[i] {
			out = append(out, line...)
		}
	}
	return writeFileLocked(target, out, perm)
}

// splitLinesKeepEnds splits after every LF, keeping the terminators, so
// joining the pieces gives back the input exactly.
func splitLinesKeepEnds(data []byte) [][]byte {
	var lines [][]byte
	for len(data) > 0 {
		i := slices.Index(data, '\n')
		if i < 0 {
			lines = append(lines, data)
			break
		}
		lines = append(lines, data[:i+1])
		data = data[i+1:]
	}
	return lines
}

type credURL struct {
	scheme, user, password, host, path string
}

func (c credURL) redactedURL() string {
	u := c.scheme + "://" + c.host
	if c.path != "" {
		u += "/" + c.path
	}
	return u
}

// parseCredentialLine follows git's credential_from_url_gently
// (credential.c): the first '@' before the first '/', '?' or '#' ends the
// user info, the first ':' in it splits user from password, user, password
// and host are percent-decoded, and leading slashes of the path are dropped.
// A line without "://" or host is not a credential.
//
// The host must be decoded: git credential-store writes it with
// strbuf_addstr_urlencode, so a host with a port is stored as
// "127.0.0.1%3a33091" and only its decoded form equals "127.0.0.1:33091".
func parseCredentialLine(line []byte) (credURL, bool) {
	s := strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r")
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || scheme == "" {
		return credURL{}, false
	}
	var c credURL
	c.scheme = scheme
	slash := strings.IndexAny(rest, "/?#")
	if slash < 0 {
		slash = len(rest)
	}
	hostAndPath := rest
	if at := strings.IndexByte(rest, '@'); at >= 0 && at < slash {
		userinfo := rest[:at]
		if user, pass, hasPass := strings.Cut(userinfo, ":"); hasPass {
			c.user, c.password = percentDecode(user), percentDecode(pass)
		} else {
			c.user = percentDecode(userinfo)
		}
		hostAndPath = rest[at+1:]
	}
	end := strings.IndexAny(hostAndPath, "/?#")
	if end < 0 {
		end = len(hostAndPath)
	}
	c.host = percentDecode(hostAndPath[:end])
	c.path = strings.TrimLeft(hostAndPath[end:], "/")
	if c.host == "" {
		return credURL{}, false
	}
	return c, true
}

// percentDecode undoes %XX escapes as git's url_decode_mem does: '+' stays
// '+', and a malformed escape is kept literally rather than rejected.
func percentDecode(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// GitCredentialStorePaths lists the files git credential-store may keep
// passwords in, whether or not they exist: ~/.git-credentials,
// $XDG_CONFIG_HOME/git/credentials (~/.config/git/credentials when unset),
// and the --file of every store helper configured, including host-scoped
// ones such as credential.https://huggingface.co.helper.
//
// gitConfig runs "git config" with the given arguments and returns its
// stdout; an error (git exits 1 when nothing is configured) just means no
// helpers are added. A relative --file is returned as written: git resolves
// it against the repository git runs in.
func GitCredentialStorePaths(env func(string) string, gitConfig func(args ...string) (string, error), home string) []string {
	xdg := env("XDG_CONFIG_HOME")
	if xdg == "" {
		xdg = filepath.Join(home, ".config")
	}
	paths := []string{
		filepath.Join(home, ".git-credentials"),
		filepath.Join(xdg, "git", "credentials"),
	}
	if gitConfig != nil {
		out, err := gitConfig("--get-regexp", `^credential\..*helper$`)
		if err == nil {
			for _, line := range strings.Split(out, "\n") {
				_, value, _ := strings.Cut(strings.TrimSpace(line), " ")
				if f := storeHelperFile(value, home); f != "" {
					paths = append(paths, f)
				}
			}
		}
	}
	var out []string
	for _, p := range paths {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// storeHelperFile returns the --file of a credential.helper value that runs
// git credential-store ("store --file=x", "store --file x",
// "/usr/lib/git-core/git-credential-store --file x",
// "!git credential-store --file x"), or "".
func storeHelperFile(helper, home string) string {
	words := shellWords(strings.TrimPrefix(strings.TrimSpace(helper), "!"))
	switch {
	case len(words) >= 2 && words[0] == "git" && words[1] == "credential-store":
		words = words[2:]
	case len(words) >= 1 && (words[0] == "store" || filepath.Base(words[0]) == "git-credential-store"):
		words = words[1:]
	default:
		return ""
	}
	file := ""
	for i := 0; i < len(words); i++ {
		switch w := words[i]; {
		case strings.HasPrefix(w, "--file="):
			file = strings.TrimPrefix(w, "--file=")
		case w == "--file" && i+1 < len(words):
			file = words[i+1]
			i++
		}
	}
	// git runs helpers through the shell, which expands a leading ~.
	if file == "~" {
		return home
	}
	if strings.HasPrefix(file, "~/") {
		return filepath.Join(home, file[2:])
	}
	return file
}

// shellWords splits a helper command line the way sh would for the plain
// cases helpers use: blanks separate words, '…' and "…" quote, a backslash
// escapes the next byte outside single quotes.
func shellWords(s string) []string {
	var (
		words []string
		cur   strings.Builder
		in    bool
		quote byte
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case quote == '"':
			switch {
			case c == '"':
				quote = 0
			case c == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0:
				i++
				cur.WriteByte(s[i])
			default:
				cur.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote, in = c, true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			in = true
		case c == ' ' || c == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}
