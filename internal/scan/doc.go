// Package scan finds Hugging Face tokens left in plaintext (source files,
// notebooks, .env files) and reads and retires the plaintext stores that
// huggingface_hub and git keep: the token file, stored_tokens and
// .git-credentials.
package scan
