#include "netagent/common/base64.hpp"

#include <openssl/evp.h>

namespace netagent {
namespace {

bool in_alphabet(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/';
}

}  // namespace

std::string base64_encode(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), int(in.size()));
  out.resize(size_t(n));
  return out;
}

std::optional<std::string> base64_decode(std::string_view in) {
  std::string s;
  s.reserve(in.size());
  for (char c : in) {
    if (c != '\n' && c != '\r' && c != ' ') s += c;
  }
  if (s.size() % 4 != 0) return std::nullopt;
  if (s.empty()) return std::string();
  // EVP_DecodeBlock is lenient (it skips some characters and accepts '=' anywhere in the last
  // quantum); check the alphabet and the padding first.
  size_t pad = 0;
  if (s.back() == '=') pad = s[s.size() - 2] == '=' ? 2 : 1;
  for (size_t i = 0; i < s.size() - pad; ++i) {
    if (!in_alphabet(s[i])) return std::nullopt;
  }
  std::string out(3 * (s.size() / 4), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(s.data()), int(s.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts the bytes that '=' padding stands for; drop them.
  out.resize(size_t(n) - pad);
  return out;
}

}  // namespace netagent
