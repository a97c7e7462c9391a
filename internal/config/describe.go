package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// This file describes config.toml for people: the keys the code reads
// (Keys, which a test holds against docs/CONFIG.md), the effective values and
// where each came from (Describe, for 'hfbroker config show'), and a check
// that points at the file and line of a mistake (Check, for 'hfbroker config
// check'). It only reads Config and Load; it decides nothing of its own.

// Key is one key of config.toml, dotted as a person writes it in a table:
// "lease.default_ttl" is default_ttl in [lease]; "route.match" is match in
// each [[route]].
type Key struct {
	Name string
	// Type is "string", "duration" or "list of tables".
	Type string
}

// Keys lists every key Config reads, from its toml tags.
func Keys() []Key {
	var keys []Key
	walkKeys(reflect.TypeFor[Config](), "", func(name string, t reflect.Type) {
		keys = append(keys, Key{Name: name, Type: typeName(t)})
	})
	return keys
}

var durationType = reflect.TypeFor[duration]()

func walkKeys(t reflect.Type, prefix string, fn func(string, reflect.Type)) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if tag == "" || tag == "-" || !f.IsExported() {
			continue
		}
		name := prefix + tag
		ft := f.Type
		switch {
		case ft == durationType:
			fn(name, ft)
		case ft.Kind() == reflect.Struct:
			walkKeys(ft, name+".", fn)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			fn(name, ft)
			walkKeys(ft.Elem(), name+".", fn)
		default:
			fn(name, ft)
		}
	}
}

func typeName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "duration"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		return "list of tables"
	}
	return t.Kind().String()
}

// defaultValue is the value that applies when key is absent (Config's zero
// values mean "default"). A switch rather than a map: the CLI's hot commands
// link this package and must not build anything at start-up.
func defaultValue(key string) string {
	switch key {
	case "endpoint":
		return DefaultEndpoint
	case "backend":
		return "auto"
	case "lease.default_ttl":
		return DefaultLeaseTTL.String()
	case "lease.max_ttl":
		return DefaultMaxTTL.String()
	case "lease.git_ttl":
		return DefaultGitTTL.String()
	case "lease.max_until_exit":
		return DefaultMaxUntilExit.String()
	case "oauth_client_id":
		return "(huggingface_hub's)"
	case "git.prefer":
		return "write"
	}
	return ""
}

// envOverride names the environment variable that wins over key, if any.
func envOverride(key string) string {
	switch key {
	case "endpoint":
		return "HF_ENDPOINT"
	case "backend":
		return "HFBROKER_BACKEND"
	case "oauth_client_id":
		return "HF_DEVICE_CODE_OAUTH_CLIENT_ID"
	}
	return ""
}

// Source says where an effective value came from.
type Source string

const (
	SourceDefault Source = "default"
	SourceFile    Source = "file"
	SourceEnv     Source = "environment"
)

// Setting is one key's effective value.
type Setting struct {
	Key    string `json:"key"`
	Value  string `json:"value"`
	Source Source `json:"source"`
	// EnvVar names the variable when Source is SourceEnv.
	EnvVar string `json:"env,omitempty"`
}

// Describe returns every key's effective value for config.toml at path and
// the environment env, and where it came from. Routes appear once per
// [[route]] as route[N].match and route[N].profile.
func Describe(env Env, path string) ([]Setting, error) {
	c, err := Load(path)
	if err != nil {
		return nil, err
	}
	defined := map[string]bool{}
	if b, err := os.ReadFile(path); err == nil {
		var raw map[string]any
		md, err := toml.Decode(string(b), &raw)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", path, err)
		}
		for _, k := range md.Keys() {
			defined[k.String()] = true
		}
	}
	var out []Setting
	var walk func(v reflect.Value, t reflect.Type, prefix, display string)
	walk = func(v reflect.Value, t reflect.Type, prefix, display string) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if tag == "" || tag == "-" || !f.IsExported() {
				continue
			}
			name, shown := prefix+tag, display+tag
			fv := v.Field(i)
			switch {
			case f.Type == durationType:
				out = append(out, setting(env, name, shown, durationText(fv.Interface().(duration)), defined))
			case f.Type.Kind() == reflect.Struct:
				walk(fv, f.Type, name+".", shown+".")
			case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
				if fv.Len() == 0 {
					out = append(out, Setting{Key: shown, Value: "(none)", Source: SourceDefault})
				}
				for j := range fv.Len() {
					walk(fv.Index(j), f.Type.Elem(), name+".", fmt.Sprintf("%s[%d].", shown, j+1))
				}
			default:
				out = append(out, setting(env, name, shown, fmt.Sprint(fv.Interface()), defined))
			}
		}
	}
	walk(reflect.ValueOf(c).Elem(), reflect.TypeFor[Config](), "", "")
	return out, nil
}

// durationText is a duration as config.toml writes it; "" when unset.
func durationText(d duration) string {
	if d.Duration == 0 {
		return ""
	}
	return d.Duration.String()
}

func setting(env Env, name, shown, value string, defined map[string]bool) Setting {
	if v := envOverride(name); v != "" && env(v) != "" {
		val := env(v)
		if name == "endpoint" {
			if ep, err := NormalizeEndpoint(val); err == nil {
				val = ep
			}
		}
		return Setting{Key: shown, Value: val, Source: SourceEnv, EnvVar: v}
	}
	if value != "" && (defined[name] || strings.Contains(shown, "[")) {
		return Setting{Key: shown, Value: value, Source: SourceFile}
	}
	return Setting{Key: shown, Value: defaultValue(name), Source: SourceDefault}
}

// Problem is a mistake in config.toml, with where it is.
type Problem struct {
	File string
	Line int // 0 when no line can be named
	Msg  string
}

func (p *Problem) Error() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
	}
	return fmt.Sprintf("%s: %s", p.File, p.Msg)
}

// Check reads config.toml at path as the daemon would and returns a
// *Problem naming the file and line of the first mistake, or nil. A missing
// file is a problem here (Load treats it as empty): the caller decides
// whether that is fine.
func Check(path string) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Problem{File: path, Msg: "no such file"}
	}
	if err != nil {
		return &Problem{File: path, Msg: err.Error()}
	}
	src := string(b)
	md, err := toml.Decode(src, &Config{})
	if perr, ok := errors.AsType[toml.ParseError](err); ok {
		msg := perr.Message
		if perr.LastKey != "" && !strings.Contains(msg, perr.LastKey) {
			msg = perr.LastKey + ": " + msg
		}
		return &Problem{File: path, Line: perr.Position.Line, Msg: msg}
	} else if err != nil {
		return &Problem{File: path, Msg: err.Error()}
	}
	if undec := md.Undecoded(); len(undec) > 0 {
		k := undec[0].String()
		return &Problem{File: path, Line: lineOfKey(src, k), Msg: fmt.Sprintf("unknown key %q (docs/CONFIG.md lists the keys)", k)}
	}
	if _, err := Load(path); err != nil {
		msg := strings.TrimPrefix(err.Error(), "parse "+path+": ")
		return &Problem{File: path, Line: lineOfMessage(src, msg), Msg: msg}
	}
	return nil
}

// lineOfMessage finds the line a Load error is about, from the key it names.
func lineOfMessage(src, msg string) int {
	if rest, ok := strings.CutPrefix(msg, "route "); ok {
		num, _, _ := strings.Cut(rest, " ")
		if n, err := strconv.Atoi(num); err == nil {
			return lineOfTable(src, "route", n)
		}
	}
	keys := Keys()
	// Longest first, so "lease.git_ttl" wins over a shorter key inside it.
	sort.Slice(keys, func(i, j int) bool { return len(keys[i].Name) > len(keys[j].Name) })
	for _, k := range keys {
		if strings.HasPrefix(msg, k.Name+" ") || strings.Contains(msg, " "+k.Name+" ") || strings.HasPrefix(msg, k.Name+":") {
			return lineOfKey(src, k.Name)
		}
	}
	if strings.HasPrefix(msg, "endpoint ") {
		return lineOfKey(src, "endpoint")
	}
	return 0
}

// lineOfKey finds the line that sets dotted key (in its table, or dotted at
// the top level); 0 when it cannot tell.
func lineOfKey(src, key string) int {
	table, leaf := "", key
	if i := strings.LastIndex(key, "."); i >= 0 {
		table, leaf = key[:i], key[i+1:]
	}
	cur := ""
	for i, l := range strings.Split(src, "\n") {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "[") {
			cur = strings.TrimSpace(strings.Trim(t, "[]"))
			continue
		}
		k, _, ok := strings.Cut(t, "=")
		if !ok {
			continue
		}
		k = strings.Trim(strings.TrimSpace(k), `"`)
		if (cur == table && k == leaf) || (cur == "" && k == key) {
			return i + 1
		}
	}
	return 0
}

// lineOfTable finds the nth [[name]] header.
func lineOfTable(src, name string, n int) int {
	seen := 0
	for i, l := range strings.Split(src, "\n") {
		t := strings.ReplaceAll(strings.TrimSpace(l), " ", "")
		if t == "[["+name+"]]" {
			if seen++; seen == n {
				return i + 1
			}
		}
	}
	return 0
}
