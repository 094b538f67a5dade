use crate::harness::Test;
