// Boost.Asio's TLS (OpenSSL), compiled once; a separate object so that programs without TLS do
// not pull it in.
#include <boost/asio/ssl/impl/src.hpp>
