// Command server serves the example stack: the web UI from ./web/dist (relative to its working
// directory, as authentik's server finds ./web from /) and the JSON API of api/schema.yml.
package main

import (
	"flag"
	"log"
	"net/http"
	"os"
)

// version is set at link time (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	addr := flag.String("addr", envOr("LISTEN", "127.0.0.1:8080"), "address to listen on")
	web := flag.String("web", envOr("WEB_DIR", "web/dist"), "directory of the web UI")
	flag.Parse()
	mux := http.NewServeMux()
	newAPI(version).register(mux)
	mux.Handle("/", http.FileServer(http.Dir(*web)))
	log.Printf("server %s listening on %s, web UI from %s", version, *addr, *web)
	log.Fatal(http.ListenAndServe(*addr, mux))
}

func envOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}
