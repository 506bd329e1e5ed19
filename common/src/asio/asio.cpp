// Boost.Asio and Boost.Beast, compiled once for the whole project (separate compilation: every
// target defines BOOST_ASIO_SEPARATE_COMPILATION and BOOST_BEAST_SEPARATE_COMPILATION, so files
// that include them compile only the templates they use).
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
