/*
 * losskit — the command-line tool of the losskit library.
 *
 *   losskit list [--json | --markdown] [--category C]
 *   losskit explore [--loss SPEC]... [--shape disk|square|ball] [--out DIR] ...
 *   losskit bench [--loss SPEC]... [--shape NxCxHxW] [--threads N] ...
 *   losskit eval --pred FILE --target FILE [--loss SPEC]... [--metrics LIST] [--json]
 *
 * `losskit help` and `losskit COMMAND --help` describe each command.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "losskit.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"list", lk_cli_list, "list the losses of the registry (table, JSON or Markdown)"},
    {"explore", lk_cli_explore, "loss landscape: each loss as a prediction slides off an object"},
    {"bench", lk_cli_bench, "throughput of each loss (forward and backward) against memcpy"},
    {"eval", lk_cli_eval, "loss values and metrics of a prediction file against a target (.npy, NIfTI)"},
};

static void print_usage(FILE *out)
{
    fprintf(out,
            "usage: losskit COMMAND [OPTIONS]\n"
            "\n"
            "Deep-learning loss functions with exact analytic gradients.\n"
            "\n"
            "Commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out,
            "\n"
            "Run 'losskit COMMAND --help' for a command's options.\n"
            "Environment: LOSSKIT_NUM_THREADS sets the number of threads (default: all cores).\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return LK_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        print_usage(stdout);
        return LK_EXIT_OK;
    }
    if (strcmp(name, "--version") == 0) {
        printf("losskit %s\n", lk_version());
        return LK_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(name, commands[i].name) == 0) return commands[i].run(argc - 2, argv + 2);
    fprintf(stderr, "losskit: unknown command '%s'\n\n", name);
    print_usage(stderr);
    return LK_EXIT_USAGE;
}
