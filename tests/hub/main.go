// The Mercure hub as its release builds it: Caddy's command line with Caddy's
// standard modules and the Mercure module. Each version's folder beside this
// file pins the modules (go.mod, go.sum); scripts/mercure-hub.sh builds it.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "github.com/dunglas/mercure/caddy"
)

func main() {
	caddycmd.Main()
}
