module example.com/stack/server

go 1.19
