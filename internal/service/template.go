package service

import (
	"errors"
	"fmt"
	"strings"
)

// This file is a faithful copy, in behaviour, of the mini template engine in
// github.com/kardianos/service v1.3.0 (template.go). The library renders our
// SystemdScript and LaunchdConfig with that engine at install time but does
// not export it, so we render the same template text with the same rules to
// know, byte for byte, what Install writes (golden tests, idempotent
// install). TestEngineMatchesKardianos runs both engines on the same
// templates through the library's real systemd Install and compares them.
//
// Syntax: {{Key}}, {{Key | fn | fn}}, {{.}} inside a range, {{if Key}} …
// {{else}} … {{end}}, {{range Key}} … {{end}}, and {{- / -}} whitespace
// trimming. A value is a string or a []string; nothing else.

type tmplFunc func(string) (string, error)

type nodeKind uint8

const (
	nodeText nodeKind = iota
	nodeValue
	nodeIf
	nodeRange
)

type node struct {
	kind  nodeKind
	text  string // literal text, or the key for the other kinds
	funcs []string
	body  []node
	alt   []node
}

// errTemplate marks a malformed template or a render against missing data.
var errTemplate = errors.New("service template")

func parseTemplate(src string) ([]node, error) {
	nodes, _, _, _, err := parseNodes(src, false)
	return nodes, err
}

// parseNodes parses src up to one of the terminators ("end", "else"),
// returning the nodes, the terminator met ("" at end of input), the rest of
// src and whether that terminator asked to trim the whitespace after it.
func parseNodes(src string, trimLeading bool, terminators ...string) (nodes []node, term, rest string, trimNext bool, err error) {
	for {
		lit, action, haveAction := src, "", false
		var trimBefore, trimAfter bool
		if open := strings.Index(src, "{{"); open >= 0 {
			end := strings.Index(src[open:], "}}")
			if end < 0 {
				return nil, "", "", false, fmt.Errorf("%w: unclosed \"{{\"", errTemplate)
			}
			lit, action, src = src[:open], src[open+2:open+end], src[open+end+2:]
			haveAction = true
			if strings.HasPrefix(action, "-") {
				trimBefore, action = true, action[1:]
			}
			if strings.HasSuffix(action, "-") {
				trimAfter, action = true, action[:len(action)-1]
			}
			action = strings.TrimSpace(action)
		} else {
			src = ""
		}
		if trimLeading {
			lit = strings.TrimLeft(lit, " \t\r\n")
		}
		if trimBefore {
			lit = strings.TrimRight(lit, " \t\r\n")
		}
		if lit != "" {
			nodes = append(nodes, node{kind: nodeText, text: lit})
		}
		trimLeading = trimAfter
		if !haveAction {
			return nodes, "", "", false, nil
		}

		kw := action
		if i := strings.IndexAny(action, " \t|"); i >= 0 {
			kw = action[:i]
		}
		switch kw {
		case "end", "else":
			for _, t := range terminators {
				if kw == t {
					return nodes, kw, src, trimAfter, nil
				}
			}
			return nil, "", "", false, fmt.Errorf("%w: unexpected %q", errTemplate, kw)
		case "if", "range":
			key := strings.TrimSpace(action[len(kw):])
			if key == "" {
				return nil, "", "", false, fmt.Errorf("%w: %q requires a key", errTemplate, kw)
			}
			n := node{kind: nodeIf, text: key}
			var stop string
			var tn bool
			if kw == "range" {
				n.kind = nodeRange
				n.body, stop, src, tn, err = parseNodes(src, trimAfter, "end")
			} else {
				n.body, stop, src, tn, err = parseNodes(src, trimAfter, "else", "end")
			}
			if err != nil {
				return nil, "", "", false, err
			}
			if stop == "else" {
				if n.alt, _, src, tn, err = parseNodes(src, tn, "end"); err != nil {
					return nil, "", "", false, err
				}
			}
			// Like the library, a block left open at the end of input is
			// closed silently rather than reported.
			trimLeading = tn
			nodes = append(nodes, n)
		default:
			parts := strings.Split(action, "|")
			n := node{kind: nodeValue, text: strings.TrimSpace(parts[0])}
			for _, p := range parts[1:] {
				n.funcs = append(n.funcs, strings.TrimSpace(p))
			}
			nodes = append(nodes, n)
		}
	}
}

// renderTemplate parses src and renders it against data.
func renderTemplate(src string, data map[string]any, funcs map[string]tmplFunc) (string, error) {
	nodes, err := parseTemplate(src)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := execNodes(&b, nodes, data, nil, funcs); err != nil {
		return "", err
	}
	return b.String(), nil
}

func execNodes(b *strings.Builder, nodes []node, data map[string]any, dot any, funcs map[string]tmplFunc) error {
	for i := range nodes {
		n := &nodes[i]
		switch n.kind {
		case nodeText:
			b.WriteString(n.text)
		case nodeValue:
			v, err := lookup(data, dot, n.text)
			if err != nil {
				return err
			}
			s, ok := v.(string)
			if !ok {
				return fmt.Errorf("%w: key %q is not a string", errTemplate, n.text)
			}
			for _, name := range n.funcs {
				fn, ok := funcs[name]
				if !ok {
					return fmt.Errorf("%w: unknown function %q", errTemplate, name)
				}
				if s, err = fn(s); err != nil {
					return err
				}
			}
			b.WriteString(s)
		case nodeIf:
			v, err := lookup(data, dot, n.text)
			if err != nil {
				return err
			}
			branch := n.alt
			if truthy(v) {
				branch = n.body
			}
			if err := execNodes(b, branch, data, dot, funcs); err != nil {
				return err
			}
		case nodeRange:
			v, err := lookup(data, dot, n.text)
			if err != nil {
				return err
			}
			items, ok := v.([]string)
			if !ok {
				return fmt.Errorf("%w: key %q is not a list", errTemplate, n.text)
			}
			for _, item := range items {
				if err := execNodes(b, n.body, data, item, funcs); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func lookup(data map[string]any, dot any, key string) (any, error) {
	if key == "." {
		return dot, nil
	}
	v, ok := data[key]
	if !ok {
		return nil, fmt.Errorf("%w: unknown key %q", errTemplate, key)
	}
	return v, nil
}

func truthy(v any) bool {
	switch t := v.(type) {
	case string:
		return t != ""
	case []string:
		return len(t) > 0
	}
	return false
}
