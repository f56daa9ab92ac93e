// libjpeg needs stdio.h (FILE) before jpeglib.h.
#include <stdio.h>
#include <stddef.h>
#include <jpeglib.h>
