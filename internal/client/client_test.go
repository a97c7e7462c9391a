package client

import (
	"slices"
	"testing"
)

func TestDaemonEnvDropsTokensAndExecMarks(t *testing.T) {
	got := daemonEnv([]string{
		"PATH=/usr/bin", "HF_TOKEN=hf_secret", "HUGGING_FACE_HUB_TOKEN=hf_other", "HF_OIDC_RESOURCE=acme/x",
		"HFBROKER_LEASE=l-1", "HFBROKER_PROFILE=work", "HFBROKER_SOCKET=/old.sock", "HF_HOME=/h",
	}, "/run/s.sock")
	want := []string{"PATH=/usr/bin", "HF_HOME=/h", "HFBROKER_SOCKET=/run/s.sock"}
	if !slices.Equal(got, want) {
		t.Fatalf("daemonEnv = %q, want %q", got, want)
	}
}
