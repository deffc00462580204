package main

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Item and NewItem are the schemas of api/schema.yml.
type NewItem struct {
	Name string `json:"name"`
	Done bool   `json:"done"`
}

type Item struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	Done bool   `json:"done"`
}

type problem struct {
	Detail string `json:"detail"`
}

// api is an in-memory item store behind the operations of api/schema.yml.
type api struct {
	version string
	mu      sync.Mutex
	next    int64
	items   map[int64]Item
}

func newAPI(version string) *api { return &api{version: version, next: 1, items: map[int64]Item{}} }

func (a *api) register(mux *http.ServeMux) {
	mux.HandleFunc("/api/health", a.health)
	mux.HandleFunc("/api/items", a.collection)
	mux.HandleFunc("/api/items/", a.member)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (a *api) health(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeJSON(w, http.StatusMethodNotAllowed, problem{"use GET"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "version": a.version})
}

func (a *api) collection(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch r.Method {
	case http.MethodGet:
		items := make([]Item, 0, len(a.items))
		for _, it := range a.items {
			items = append(items, it)
		}
		sort.Slice(items, func(i, j int) bool { return items[i].ID < items[j].ID })
		writeJSON(w, http.StatusOK, items)
	case http.MethodPost:
		var in NewItem
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Name == "" {
			writeJSON(w, http.StatusBadRequest, problem{"body must be a NewItem with a non-empty name"})
			return
		}
		it := Item{ID: a.next, Name: in.Name, Done: in.Done}
		a.next++
		a.items[it.ID] = it
		writeJSON(w, http.StatusCreated, it)
	default:
		writeJSON(w, http.StatusMethodNotAllowed, problem{"use GET or POST"})
	}
}

func (a *api) member(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(strings.TrimPrefix(r.URL.Path, "/api/items/"), 10, 64)
	if err != nil {
		writeJSON(w, http.StatusNotFound, problem{"no such item"})
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	it, ok := a.items[id]
	if !ok {
		writeJSON(w, http.StatusNotFound, problem{"no such item"})
		return
	}
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, it)
	case http.MethodDelete:
		delete(a.items, id)
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(w, http.StatusMethodNotAllowed, problem{"use GET or DELETE"})
	}
}
