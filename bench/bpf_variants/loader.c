// Loads one BPF object, attaches its programs (the classic-tracepoint twin of
// block_rq_complete stays off, as vigild leaves it off where block_rq_error
// exists), turns the kernel's run-time statistics on, prints "ready" and
// holds everything until stdin closes.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char** argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s OBJECT.o\n", argv[0]);
        return 2;
    }
    struct bpf_object* obj = bpf_object__open_file(argv[1], NULL);
    if (!obj) {
        perror("open");
        return 1;
    }
    struct bpf_program* prog;
    bpf_object__for_each_program(prog, obj) {
        if (strcmp(bpf_program__name(prog), "block_rq_complete_error") == 0)
            bpf_program__set_autoload(prog, false);
    }
    if (bpf_object__load(obj) != 0) {
        fprintf(stderr, "loading %s failed\n", argv[1]);
        return 1;
    }
    bpf_object__for_each_program(prog, obj) {
        if (bpf_program__autoload(prog) && !bpf_program__attach(prog)) {
            fprintf(stderr, "attaching %s failed\n", bpf_program__name(prog));
            return 1;
        }
    }
    if (bpf_enable_stats(BPF_STATS_RUN_TIME) < 0) {
        perror("BPF_ENABLE_STATS");
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    char c;
    while (read(0, &c, 1) > 0) {
    }
    return 0;
}
