/*
** crc32.h — CRC-32 (ISO-HDLC: polynomial 0x04C11DB7 reflected, as zlib's
** crc32 and Parquet's PageHeader.crc), for page checksums.
*/
#ifndef SJ_CRC32_H
#define SJ_CRC32_H

#include <stddef.h>
#include <stdint.h>

uint32_t sj_crc32(const void *data, size_t len);

#endif
