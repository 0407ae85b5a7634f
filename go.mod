module mailbounce

go 1.26.8

require (
	github.com/google/go-cmp v0.7.0
	github.com/klauspost/compress v1.20.4
	github.com/spf13/pflag v1.1.0
	github.com/ulikunitz/xz v0.5.17
)

require github.com/mattn/go-sqlite3 v1.14.53 // indirect
