/* Py_Initialize()/Py_Finalize() cycles of an embedding program that calls
   sys.immortalize_heap() in each: what LeakSanitizer finds.

   Built and run by Tools/immortal/reliability/sanitize.sh against the
   AddressSanitizer build (build/immortal-asan): embed_cycles N MODE runs N
   cycles; MODE "immortalize" warms a heap and calls sys.immortalize_heap(),
   MODE "plain" runs the same code without the call (the baseline). */

#define PY_SSIZE_T_CLEAN
#include "Python.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Resident memory in KiB, from /proc/self/statm. */
static long
rss_kib(void)
{
    long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL) {
        return -1;
    }
    if (fscanf(f, "%ld %ld", &size, &resident) != 2) {
        resident = -1;
    }
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static const char *warm =
    "import json, collections, decimal, re\n"
    "cache = {i: {'id': i, 'name': 'item %d' % i, 'tags': [str(i), i * 1.5]}"
    " for i in range(20000)}\n"
    "text = json.dumps(list(cache.values())[:1000])\n"
    "counts = collections.Counter(text)\n"
    "class Model:\n"
    "    def __init__(self, i): self.i = i; self.d = decimal.Decimal(i)\n"
    "models = [Model(i) for i in range(5000)]\n"
    "pattern = re.compile(r'item (\\d+)')\n";

int
main(int argc, char **argv)
{
    int cycles = argc > 1 ? atoi(argv[1]) : 3;
    int immortalize = argc > 2 && strcmp(argv[2], "immortalize") == 0;
    for (int i = 0; i < cycles; i++) {
        Py_Initialize();
        if (PyRun_SimpleString(warm) != 0) {
            return 1;
        }
        if (immortalize
            && PyRun_SimpleString("import sys; sys.immortalize_heap()\n"
                                  "assert sys._is_immortal(cache[7])\n") != 0)
        {
            return 1;
        }
        if (PyRun_SimpleString("assert pattern.match('item 12')[1] == '12'\n"
                               "assert len(models) == 5000\n") != 0) {
            return 1;
        }
        if (Py_FinalizeEx() < 0) {
            return 1;
        }
        fprintf(stderr, "embed_cycles: %s cycle %d: rss %ld KiB\n",
                immortalize ? "immortalize" : "plain", i + 1, rss_kib());
    }
    return 0;
}
