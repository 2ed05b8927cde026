"""Shared fixtures: Appendix A of the language reference."""

from __future__ import annotations

APPENDIX_A = """\
package "helpdesk" version "0.3.0" lang "2.0"
type "priority" enum ["low", "normal", "urgent"]
prompt "desk-sys" {
  content "You answer {{product}} questions."
  variables { product string required }
}
secret "kb-token" { env(KB_TOKEN) }   # resolved at run time
server "kb" { transport "sse" url "https://kb.internal/mcp" auth "kb-token" exposes skill "kb-search" }
client "kb-link" { connects to server "kb" }
skill "kb-search" {
  description "Search the knowledge base"
  input { query string required }
  output { hits string }
  tool mcp "kb/search"
}
skill "ping" {
  description "Check a host"
  input { host string required  level priority }
  output { ok bool }
  tool command { binary "ping" args ["-c", "1"] timeout "5s" }
}
agent "desk" {
  uses prompt "desk-sys"
  uses skill "kb-search"
  model "claude-sonnet-4-20250514"
  connects to client "kb-link"
  max_turns 8
  temperature 0.3
  on_error "fallback"
  fallback "netops"
  delegate to agent "netops" when "the user reports an outage"
}
agent "netops" { uses prompt "desk-sys" uses skill "ping" model "gpt-4o" }
pipeline "intake" {
  step "classify" { agent "desk" output "category" }
  step "probe" { agent "netops" depends_on ["classify"] }
}
environment "prod" { agent "desk" { model "claude-opus-4" } }
policy "guard" { require secret kb-token }
deploy "dev" target "process" { port 8080 default true }
"""
