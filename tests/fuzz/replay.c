/* replay.c - runs every file of a fuzz corpus directory through a fuzzer's
 * LLVMFuzzerTestOneInput, so each CI run replays the corpus as a plain test
 * (built without libFuzzer). Exit 0 when every input ran. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
main(int argc, char **argv)
{
    struct dirent *de;
    DIR *d;
    int count = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    if ((d = opendir(argv[1])) == NULL) {
        perror(argv[1]);
        return 1;
    }
    while ((de = readdir(d)) != NULL) {
        char path[4096];
        FILE *f;
        long len;
        uint8_t *buf;

        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", argv[1], de->d_name);
        if ((f = fopen(path, "rb")) == NULL)
            continue;
        fseek(f, 0, SEEK_END);
        len = ftell(f);
        fseek(f, 0, SEEK_SET);
        buf = malloc(len > 0 ? (size_t)len : 1);
        if (buf != NULL && fread(buf, 1, (size_t)len, f) == (size_t)len) {
            LLVMFuzzerTestOneInput(buf, (size_t)len);
            count++;
        }
        free(buf);
        fclose(f);
    }
    closedir(d);
    printf("replayed %d inputs from %s\n", count, argv[1]);
    return count > 0 ? 0 : 1;
}
