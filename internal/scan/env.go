package scan

import (
	"strings"

	"github.com/hfbroker/hfbroker/internal/secret"
)

// EnvToken is a token found in an environment variable.
type EnvToken struct {
	Var   string
	Token secret.Token
}

func (e EnvToken) String() string { return e.Var + "=" + e.Token.String() }

// tokenVars are the variables huggingface_hub reads a token from, in its
// order of precedence.
var tokenVars = []string{"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"}

// EnvTokens returns the tokens in HF_TOKEN and HUGGING_FACE_HUB_TOKEN, in
// that order, cleaned as huggingface_hub cleans them. Empty values are
// skipped: HF_TOKEN="" means "fall through", not a token. When environ holds
// a name twice the first wins, as os.Getenv does.
func EnvTokens(environ []string) []EnvToken {
	var out []EnvToken
	for _, name := range tokenVars {
		for _, kv := range environ {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k != name {
				continue
			}
			if t := cleanToken(v); t != "" {
				out = append(out, EnvToken{Var: name, Token: secret.Token(t)})
			}
			break
		}
	}
	return out
}
